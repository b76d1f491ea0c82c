"""Demo footage: a fire clip made from CC BY 4.0 stills shipped here, and pedestrian footage from Debian's
opencv-doc package. Used by `xueliang serve --demo` and by the tests."""
