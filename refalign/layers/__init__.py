"""Building blocks shared by the towers (one copy for all of them): attention."""
