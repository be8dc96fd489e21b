"""Scale-out beside the core: batch analysis on Ray Data, serving replicas on Ray Serve.

Imports the core (``moodchat.assistant``, ``moodchat.server``); nothing in the core or the
serving path imports this package, and Ray is imported only inside its functions.
"""
