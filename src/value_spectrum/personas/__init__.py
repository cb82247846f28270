from value_spectrum.personas.model import Persona

__all__ = ["Persona"]
