"""Pieces shared by the two API emulators: TLS, fault injection, call stats, the admin routes, processes."""
