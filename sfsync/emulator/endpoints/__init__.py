"""The emulated org over HTTP: OAuth and SOAP login, REST, sObject Collections, Bulk API 2.0, admin.

The top room: it speaks the wire formats and calls ``records`` and ``metadata``; nothing below imports it.
"""
