"""The tap's streams: modules, custom queries, API Designer answers, and the child
streams of links, tags and account hierarchy.
"""
