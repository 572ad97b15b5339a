"""The inbound pipeline: what engines report becomes messages, contacts, chats, events.

``recorder.InboundRecorder`` is the supervisor listener and the group commit; media is
downloaded before the transaction (``downloads``); inside it each item is a message
(``messages``), a receipt (``receipts``), or what an engine tells of a contact or a
group (``directory``). ``work`` holds the items and what a batch reads for them.
"""
