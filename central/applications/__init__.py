"""Applications (办件) in the operators' console: the state machine and its pushes (``workflow``), the list and
detail queries (``listing``), working-day time limits (``workdays``)."""
