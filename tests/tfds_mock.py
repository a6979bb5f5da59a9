"""Tiny prepared TFDS datasets written to temp dirs (no download)."""

import os


def write_prepared_tfds(name, data_dir, splits):
  """Write `splits` ({split: [example dict]}) as a prepared TFDS dataset `name`.

  Uses the real builder's features and file naming, so `tfds.builder(name,
  data_dir=data_dir)` reports it prepared and reads it like downloaded data.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder(name, data_dir=os.fspath(data_dir))
  os.makedirs(builder.data_dir, exist_ok=True)
  infos = []
  for split, examples in splits.items():
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir,
        template='{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}',
        dataset_name=builder.name, split=split, filetype_suffix='tfrecord')
    path = template.sharded_filepath(shard_index=0, num_shards=1)
    with tf.io.TFRecordWriter(os.fspath(path)) as writer:
      for example in examples:
        writer.write(builder.info.features.serialize_example(example))
    infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[len(examples)],
                                     num_bytes=0, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.write_to_directory(builder.data_dir)
  return os.fspath(data_dir)
