"""The Mega-Deal Day scenario (issue 12): runner, faults and the audit."""
