"""The emulated org's metadata: objects, fields, users, connected apps, faults, org files and describe.

The bottom room of the emulator: it imports nothing from ``records`` or ``endpoints``.
"""
