"""tap-vtiger: every Vtiger module as a Singer stream, incrementally, deletions included.

``tap`` (settings, stream registry, the budget stop) -> ``streams`` (one per module, custom
queries, API Designer, links, tags, metadata) on the base streams of ``client``; the
bookkeeping beside them (deletions, schema drift, the bookmark second, discovery cache).
"""
