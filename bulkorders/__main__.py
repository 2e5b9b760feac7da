from bulkorders.cli import main

main()
