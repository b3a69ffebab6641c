"""A development Vtiger: a real HTTP server over SQLite answering as Vtiger 8.2 does
(REST and webservice.php, API Designer, rate limits, injected faults; Cloud or self-hosted).

``backend`` (typed methods per domain) <- ``responses`` (request reading per API style) <-
``urls`` <- ``app`` <- ``cli``. Needs the ``[sandbox]`` extra.
"""
