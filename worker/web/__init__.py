"""The web console (``hotline web``): today's lists, a unit's record, the documents sent and the runs,
read through the same query functions the documents use and scoped by the viewer's role."""
