"""SMS Bank: a bank customers use by text message, with selfie-approved withdrawals."""

__version__ = "0.1.0"
