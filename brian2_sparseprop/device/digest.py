"""A digest of a Brian2 network's content, to check that two runs simulate the same network.

`network_digest` hashes what a run starts from: every group's size, equations and variables (initial
values, per-neuron parameters, random parameters), every Synapses' connectivity ``i``, ``j`` and
variables (weights, delays), the Poisson inputs' sizes, rates and weights and the spike generators'
spikes. `brian2_sparseprop.device.compare.compare` takes one at the first ``run()`` of every network in
the exact and in each clock-driven run of a script, and compares them.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from brian2 import NeuronGroup, PoissonGroup, PoissonInput, SpikeGeneratorGroup, Synapses

from ._brian2 import ArrayVariable

__all__ = ["NetworkDigest", "network_digest"]

#: the types whose content the digest covers; monitors hold results, not the network
_CONTENT = (NeuronGroup, Synapses, PoissonGroup, SpikeGeneratorGroup, PoissonInput)


@dataclass(frozen=True)
class NetworkDigest:
    """Hashes of the parts of a network, as `network_digest` returns them.

    Attributes
    ----------
    parts : dict of str to tuple
        Per part (``"Synapses 'syn' j"``, ``"NeuronGroup 'neurons' v"``, ...): (SHA-256 of its values,
        number of values).
    """

    parts: dict

    @property
    def hexdigest(self):
        """SHA-256 over all parts: equal for two networks exactly when every part is equal."""
        h = hashlib.sha256()
        for name in sorted(self.parts):
            h.update(f"{name}={self.parts[name][0]};".encode())
        return h.hexdigest()

    def differences(self, other):
        """The parts in which ``other`` differs from this digest, one line each ([] if none).

        Examples
        --------
        >>> a = NetworkDigest({"Synapses 'syn' i": ("ab", 3)})
        >>> b = NetworkDigest({"Synapses 'syn' i": ("cd", 4)})
        >>> a.differences(b)
        ["Synapses 'syn' i differs (3 values against 4)"]
        >>> a.differences(a)
        []
        """
        lines = []
        for name in sorted(set(self.parts) | set(other.parts)):
            if name not in other.parts:
                lines.append(f"{name} is missing from the other network")
            elif name not in self.parts:
                lines.append(f"{name} is only in the other network")
            elif self.parts[name][0] != other.parts[name][0]:
                size, other_size = self.parts[name][1], other.parts[name][1]
                counts = f"{size} values against {other_size}" if size != other_size else f"{size} values"
                lines.append(f"{name} differs ({counts})")
        return lines


def _hash(values):
    values = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    h.update(values.tobytes())
    return h.hexdigest(), int(values.size)


def _text(text):
    return hashlib.sha256(str(text).encode()).hexdigest(), 1


def _parts(obj):
    """(part name, (hash, size)) of one object of the network."""
    label = f"{type(obj).__name__} '{obj.name}'"
    if isinstance(obj, PoissonInput):
        # rate and weight as given (a weight may be a string expression), N and the target variable
        description = (obj._N, repr(obj._rate), repr(obj._weight), obj._target_var, obj._group.name)
        yield f"{label} input", _text(description)
        return
    yield f"{label} size", _text(len(obj))
    equations = getattr(obj, "equations", None)
    if equations is not None:
        yield f"{label} equations", _text(equations)
    for name, var in sorted(obj.variables.items()):
        # the object's own arrays: not the clock's (t, dt), not the pre- and postsynaptic groups' variables
        # that a Synapses refers to, not Brian2's internal arrays
        if not isinstance(var, ArrayVariable) or name.startswith("_") or getattr(var.owner, "name", None) != obj.name:
            continue
        yield f"{label} {name}", _hash(np.asarray(var.get_value()))


def network_digest(objects):
    """The digest of the network content among ``objects``, as it stands now.

    Parameters
    ----------
    objects : brian2.Network or iterable of Brian2 objects
        A network (its ``objects``) or the objects themselves. NeuronGroups (their size, equations and
        variables), Synapses (connectivity, weights, delays and other variables), PoissonGroups,
        SpikeGeneratorGroups and PoissonInputs are digested; monitors and other objects are ignored.

    Returns
    -------
    NetworkDigest
        Comparable with `NetworkDigest.differences`; ``hexdigest`` sums it up. Values are hashed
        bit for bit, in SI units, so two digests agree only for identical networks.

    Examples
    --------
    >>> from brian2 import NeuronGroup, Synapses, seed
    >>> def build():
    ...     seed(1)
    ...     group = NeuronGroup(10, 'dv/dt = -v/(10*ms) : 1', threshold='v > 1', reset='v = 0', name='g')
    ...     group.v = 'rand()'
    ...     syn = Synapses(group, group, on_pre='v += 0.1', name='s')
    ...     syn.connect(j='i')
    ...     return [group, syn]
    >>> network_digest(build()).differences(network_digest(build()))
    []
    """
    objects = getattr(objects, "objects", objects)
    parts = {}
    for obj in objects:
        if isinstance(obj, _CONTENT):
            parts.update(_parts(obj))
    return NetworkDigest(parts)
