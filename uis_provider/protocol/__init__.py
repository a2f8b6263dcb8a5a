"""Sans-IO core of the UIS Data API client: requests, answers, errors, limits, paging, windows, filters."""
