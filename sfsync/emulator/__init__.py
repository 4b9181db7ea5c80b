"""A local Salesforce org: REST, OAuth, SOAP login, sObject Collections and Bulk API 2.0 over HTTP.

Standalone: imports nothing from the rest of sfsync, and runtime code never imports it.
"""
