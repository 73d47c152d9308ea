from ordinaut.cli import main

main()
