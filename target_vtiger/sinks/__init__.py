"""The sinks, one per kind of stream: a Vtiger module's records (``module``), links
(``relations``), tags (``tags``), lead conversions (``convertlead``), API Designer webhooks
(``webhook``); ``base`` holds what they all share.
"""
