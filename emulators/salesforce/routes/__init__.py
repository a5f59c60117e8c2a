"""HTTP routes of the Salesforce emulator, one module per API area."""
