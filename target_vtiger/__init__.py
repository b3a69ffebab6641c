"""target-vtiger: warehouse records into Vtiger, each exactly once or rejected with a reason.

``target`` (settings, routing) -> ``sinks`` (module, links, tags, webhook, convertlead) ->
``run`` (what one run's sinks share: clients, describes, summaries, rejects, the STATE ledger)
-> ``validation``, ``matching``, ``storedform``, ``rejects``, ``altered``.
"""
