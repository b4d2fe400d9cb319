"""Requests a customer confirms (withdrawals, number changes), their codes and limits."""
