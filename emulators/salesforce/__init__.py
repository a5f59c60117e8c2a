"""A local Salesforce REST/SOAP-login/Bulk 2.0 API emulator for tests, the sandbox and benchmarks.

See README.md in this folder for what is emulated and how it differs from a real org.
"""
