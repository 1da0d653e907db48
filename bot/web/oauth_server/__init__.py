"""The service as the OAuth authorization server ThousandEyes asks for webhook tokens."""
