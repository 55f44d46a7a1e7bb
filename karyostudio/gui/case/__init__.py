"""Cases: a folder of metaphase images (cells) reviewed together, with a tally, a whole-case
model run and exports of the case."""
