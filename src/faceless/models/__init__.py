"""Networks: the SRResNet generator and the SRGAN discriminator, one network a file."""
