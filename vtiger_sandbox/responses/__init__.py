"""Request reading and answer shaping, per API style: REST, webservice.php, API Designer,
the admin endpoints. Each reads a request into typed calls of ``vtiger_sandbox.backend`` and
wraps what they return in that style's envelope.
"""
