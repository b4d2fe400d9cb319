"""What the bank says: texts and call scripts, their languages (locale/), GSM-7 costs."""
