"""Contract tests: one test class run against every engine implementation."""
