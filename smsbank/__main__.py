from smsbank.cli import main

main()
