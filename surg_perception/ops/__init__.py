"""Pure tensor math: box coding and matching, priors, the multibox loss, HOG targets."""
