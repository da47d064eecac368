def slugify(text):
    # TODO: handle accents
    return text.lower().replace(" ", "-")  


def shout(text):
    return text.upper() + "!"
