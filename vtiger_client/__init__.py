"""A Vtiger CRM API client shared by tap-vtiger and target-vtiger; it knows nothing of Singer.

``config`` (the connection settings, validated), ``session`` (the client: retries, pacing, the
API budget, typed operations), ``transports`` (REST or webservice.php), ``types`` (the one
typed <-> wire codec), ``vtql`` (queries with escaped values), ``errors``, ``collation``.
"""
