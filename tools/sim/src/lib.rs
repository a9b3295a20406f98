//! faro-sim: a simulated Meshtastic mesh (under construction).
