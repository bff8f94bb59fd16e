"""Quality: Great Expectations suites and the gate in front of the export (not yet built, issue 4)."""
