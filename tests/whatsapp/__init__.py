"""A double of WhatsApp Web's own modules, served on loopback, for the whatsapp adapter's tests.

`WhatsAppDouble` runs it (one account per double); `Control` drives its control API.
"""
