from dcc.cli import main

main()
