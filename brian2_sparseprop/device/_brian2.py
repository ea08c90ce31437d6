"""Every private Brian2 name the package uses, imported in one place.

The device reads and writes Brian2's own objects, so it depends on parts of Brian2 that are not its
public scripting namespace (``brian2.only.__all__``, what ``from brian2 import *`` gives). They are
all imported here, so that a Brian2 upgrade is checked against one module; every other module of the
package imports from ``brian2`` only public names, or from here (``tests/test_imports.py`` checks it
by parsing the sources). The device registry `all_devices` is exported by Brian2's top level too, but it
is the device machinery rather than the scripting API, so it lives here as well.

Private attributes of Brian2 objects that the device reads or writes (not importable, so listed):

- ``Network.run/store/restore.original_function`` (the methods under Brian2's device override),
  ``Network._stored_state``, ``Clock._i_end``, ``SpikeGeneratorGroup._spikes_changed`` and
  ``_spike_time``, ``BrianObject._network`` and ``BrianObject._scope_current_key`` (the scope that
  ``start_scope()`` opened) (`brian2_sparseprop.device.device`, `brian2_sparseprop.neo`);
- ``Synapses._pathways``, ``PoissonInput._rate``/``_weight``/``_target_var``/``_group``,
  ``PoissonGroup._rates``, ``NeuronGroup._refractory``/``_linked_variables`` and ``Group._resolve``
  (`brian2_sparseprop.device.recognition`);
- ``Dimension._dims`` (`brian2_sparseprop.neo`).
"""

from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
from brian2.core.magic import magic_network
from brian2.core.network import TextReport
from brian2.core.variables import ArrayVariable, Constant, Subexpression
from brian2.devices.device import RuntimeDevice, all_devices, previous_devices, reset_device
from brian2.equations.equations import PARAMETER, SUBEXPRESSION
from brian2.parsing.expressions import parse_expression_dimensions
from brian2.parsing.statements import parse_statement
from brian2.parsing.sympytools import str_to_sympy
from brian2.units.fundamentalunits import fail_for_dimension_mismatch
from brian2.utils.stringtools import get_identifiers

__all__ = [
    "NumpyCodeObject",
    "PARAMETER",
    "SUBEXPRESSION",
    "ArrayVariable",
    "Constant",
    "RuntimeDevice",
    "Subexpression",
    "TextReport",
    "all_devices",
    "fail_for_dimension_mismatch",
    "get_identifiers",
    "magic_network",
    "parse_expression_dimensions",
    "parse_statement",
    "previous_devices",
    "reset_device",
    "str_to_sympy",
]
