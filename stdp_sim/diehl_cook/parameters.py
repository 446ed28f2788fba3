"""The constants of Diehl & Cook's (2015) network, with units.

Source: P. U. Diehl and M. Cook, "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99 (2015), and its
original code ``Diehl&Cook_spiking_MNIST.py`` (github.com/peter-u-diehl/stdp-mnist);
summarised in ``docs/reference.md`` (section "A learning spiking network").  Where the
paper and the code differ, this follows the code:

- the threshold is ``v > theta - offset + v_thresh`` with ``offset`` 20 mV and
  ``v_thresh`` −52 mV, i.e. ``v > theta - 72 mV`` with ``theta`` starting at 20 mV;
- the input rate is ``pixel / 8 * intensity`` Hz with the intensity starting at 2
  (pixel / 4 Hz, at most 63.75 Hz) and raised by 1 for each re-presentation;
- the code defines a 0–5 ms delay for input → inhibitory synapses but connects the
  input to the excitatory layer only (``input_conn_names = ['ee_input']``), so there
  are no input → inhibitory synapses here either;
- the membrane potentials start 40 mV below rest;
- an excitatory neuron cannot fire again for 50 ms after a spike: the code's threshold
  also requires ``timer > refrac_e`` (5 ms) with ``dtimer/dt = 100.0 : ms`` (0.1 ms of
  timer per ms) and ``timer = 0`` at the reset, while the membrane is clamped for the
  5 ms refractory period only (Brian2's port keeps this too).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from brian2 import Hz, ms, mV

__all__ = ["DiehlCookParameters"]


def quantity_field(value):
    """A dataclass default that is a Brian2 quantity (an array, so not hashable)."""
    return field(default_factory=lambda: value)


@dataclass(frozen=True)
class DiehlCookParameters:
    """Everything that defines the network, published values as defaults.

    Sizes are parameters: ``n_exc`` excitatory (and as many inhibitory) neurons,
    ``n_input`` input channels (784 for 28×28 images).  Every time, potential and
    rate carries Brian2 units.
    """

    n_input: int = 784
    n_exc: int = 100
    dt: object = quantity_field(0.5 * ms)
    # excitatory neurons (conductance-based LIF with an adaptive threshold)
    v_rest_e: object = quantity_field(-65 * mV)
    v_reset_e: object = quantity_field(-65 * mV)
    v_thresh_e: object = quantity_field(-52 * mV)
    theta_offset: object = quantity_field(20 * mV)
    theta_init: object = quantity_field(20 * mV)
    theta_plus: object = quantity_field(0.05 * mV)
    tau_theta: object = quantity_field(1e7 * ms)
    tau_e: object = quantity_field(100 * ms)
    refractory_e: object = quantity_field(5 * ms)
    #: No spike for this long after a spike (the code's ``timer`` condition).
    threshold_lockout_e: object = quantity_field(50 * ms)
    # inhibitory neurons
    v_rest_i: object = quantity_field(-60 * mV)
    v_reset_i: object = quantity_field(-45 * mV)
    v_thresh_i: object = quantity_field(-40 * mV)
    tau_i: object = quantity_field(10 * ms)
    refractory_i: object = quantity_field(2 * ms)
    # conductances
    tau_ge: object = quantity_field(1 * ms)
    tau_gi: object = quantity_field(2 * ms)
    e_exc: object = quantity_field(0 * mV)
    e_inh_e: object = quantity_field(-100 * mV)
    e_inh_i: object = quantity_field(-85 * mV)
    # connections
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0
    w_max: float = 1.0
    w_init_scale: float = 0.3
    delay_max: object = quantity_field(10 * ms)
    weight_sum: float = 78.0
    # input and schedule
    rate_per_pixel_and_intensity: object = quantity_field(1 / 8 * Hz)
    start_intensity: int = 2
    presentation: object = quantity_field(350 * ms)
    rest: object = quantity_field(150 * ms)
    min_spikes: int = 5
    #: Not in the original (it re-presents without end): after this many
    #: re-presentations of one image its counts are taken as they are, so that a
    #: network whose weights a rule drove to zero still finishes.
    max_repeats: int = 20

    def __post_init__(self):
        for name in ("n_input", "n_exc", "start_intensity", "min_spikes", "max_repeats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or (
                    value == 0 and name in ("n_input", "n_exc")):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if float(self.rest) <= float(self.delay_max):
            raise ValueError(f"rest ({self.rest}) must be longer than delay_max "
                             f"({self.delay_max}): no input spike may be in flight when a "
                             f"chunk of images ends")
        step = float(self.dt)
        for name in ("presentation", "rest"):
            value = float(getattr(self, name))
            if value <= 0 or abs(round(value / step) * step - value) > 1e-9 * value:
                raise ValueError(f"{name} must be a positive multiple of dt "
                                 f"({self.dt}), got {getattr(self, name)}")

    @property
    def slot(self):
        """One presentation and its rest."""
        return self.presentation + self.rest

    def replace(self, **changes) -> DiehlCookParameters:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready values (times in ms, potentials in mV, rates in Hz)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            for unit, suffix in ((ms, "_ms"), (mV, "_mV"), (Hz, "_Hz")):
                try:
                    if value.dim == unit.dim:
                        out[f.name + suffix] = float(value / unit)
                        break
                except AttributeError:
                    out[f.name] = value
                    break
        return out

