"""Online training: samples streamed from solver producers to trainers."""
