"""ChromSeg crossing-overlap splitting: region-guided UNet++ maps and the crossing-partition stage."""
