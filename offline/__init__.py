"""Running the program without the Pulumi CLI: stack files, the mock engine, checks and the plan."""
