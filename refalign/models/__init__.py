"""One module per config.json model_type: its config, how its towers compose, its projections, outputs and golden
tensor names (align.py); what every family shares (base.py: loading and input checks, GoldenPlan; contrastive.py:
normalisation and the contrastive loss). refalign.auto maps model_type to the family's model class."""
