"""Source readers: each turns one source path into a Plan of files to probe."""
