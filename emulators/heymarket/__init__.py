"""Local emulator of the Heymarket public REST API (contacts, custom fields, team, inboxes).

Start it with ``python -m emulators.heymarket``; build it in-process with
``emulators.heymarket.app.create_app()``. The behaviours the real docs leave open are in ``choices``.
"""
