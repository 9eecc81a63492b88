"""The service layer of the digits system."""
