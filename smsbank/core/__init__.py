"""The ground the bank stands on: settings, database, models, money, phones, ledger, logs."""
