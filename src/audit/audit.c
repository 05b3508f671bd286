/* placeholder: implemented in a later slice */
