"""us_subset.py - the one rule for a learning-curve subset of the nerve-us training
images, shared by train_nerve_net.py and train_nerve_cnn.py (--us-subset). numpy only."""
import numpy as np


def us_subset(items, tr, share):
    """Of the nerve-us images in tr (indices into items, each with "set" and "name"),
    a fixed random share by image name (seed 4242, so every nerve of an image goes
    together and a smaller share is a subset of a larger one); femoral images all
    kept. share >= 1: tr itself."""
    if share >= 1.0:
        return tr
    names = sorted({items[i]["name"] for i in tr if items[i]["set"] == "us"})
    order = np.random.default_rng(4242).permutation(len(names))
    keep = {names[j] for j in order[:int(round(share * len(names)))]}
    return [i for i in tr if items[i]["set"] != "us" or items[i]["name"] in keep]
