"""A tokenizer folder: a character vocabulary of train for encoders trained from scratch
(plus feature vocabularies), else a copy of the encoder's own tokenizer. A folder shared
by experiments also gets ``settings.json``: the settings its key was made of."""

from nerflow import stage
from nerflow.config.choices import from_scratch
from nerflow.data.cluener import read_records
from nerflow.jsonio import write_json
from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer

smk = snakemake  # noqa: F821
log = stage.start(smk)
encoder = smk.params.encoder
if from_scratch(encoder):
    records = list(read_records(smk.input.train))
    texts = [record.text for record in records]
    vocab = build_char_vocab(texts)
    save_char_tokenizer(vocab, smk.output[0])
    log.info("character vocabulary of %d tokens from %d train texts", len(vocab), len(texts))
    if smk.params.features:
        from nerflow.features.featurizer import build_feature_assets

        build_feature_assets(texts, smk.params.features, smk.output[0], records)
else:
    tokenizer = load_tokenizer(encoder)
    tokenizer.save_pretrained(smk.output[0])
    log.info("tokenizer of %s (%d tokens)", encoder, len(tokenizer))
if "settings" in smk.output.keys():  # a shared folder (rule pretrain_tokenizer has none)
    write_json(smk.output.settings, {"encoder": encoder, "features": smk.params.features})
stage.finish(smk)
