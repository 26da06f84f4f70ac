"""Pre- and post-processing shared by training evaluation, pruning, bag tools and the node."""
